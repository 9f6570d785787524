"""The zero-setup broker: kombu's filesystem transport, made safe for concurrent use.

kombu's filesystem channel creates a message file and only then writes into it,
while a consumer moves and reads any file it lists, unlocked. A consumer that
lists the folder between those two steps reads an empty message and the worker
stops with "Unrecoverable error: JSONDecodeError" (seen under load here). This
channel writes each message under a name consumers ignore and renames it into
place, which is atomic on one filesystem, so a consumer only ever sees whole
messages. Registered as the ``awufs://`` transport.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # The stubs of kombu's two base classes disagree on this signature; this
    # matches the filesystem channel's, which is what kombu calls.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not "<queue>.msg": consumers skip it
        try:
            with open(partial, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("awufs", "awu.broker:Transport")
