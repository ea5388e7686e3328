"""The license reconciler (push): make Apple hold the licenses the group assignments ask for.

The plan (who should hold what) is a selector, `assignments.plan`. Here is the push: a
ReconcileRun works through the token's books in short tasks, sends Apple's writes in requests of
the allowed size, stores each event id with the rows it covers and ends; follow-up tasks and
Apple's notifications learn the outcomes (`follow`, `notifications`). Nothing waits in a worker.
"""

from __future__ import annotations


def reconcile_token(**kwargs):
    """Reconcile a token now, in the foreground (see sync.reconcile.foreground)."""
    from sync.reconcile.foreground import reconcile_token as foreground_reconcile

    return foreground_reconcile(**kwargs)
