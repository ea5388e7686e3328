"""The embedded broker (no Redis): kombu's filesystem transport, each message written whole.

kombu's own _put creates the message file under its final name, then writes it. A worker
polling the folder can take the file in between, read nothing, and stop on the empty JSON
("Unrecoverable error: JSONDecodeError"): every background job then waits for a restart. Seen
in an end-to-end test under load. Here a message is written under a name the worker skips, then
renamed into place, which on one filesystem is atomic.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL = ".part"  # _get takes only '<queue>.msg' files: a partial one is never read


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put the message onto the queue: written aside, then renamed into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # as kombu names it
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + PARTIAL, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(path + PARTIAL, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
