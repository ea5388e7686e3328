"""The sync engine (pull), the license reconciler (push), run history and their tasks."""
