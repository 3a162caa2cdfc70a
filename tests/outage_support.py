"""A broker that goes away and comes back: the embedded Tansu behind a TCP relay that the
test can cut (every connection dropped, the port refusing) and restore on the same port.

Tansu here keeps its data in memory only, so stopping the process would also lose every
topic; what a client sees of a broker restart (connections reset, the address refusing,
then the same broker with its data) is what the cut gives."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from streams.tools.embedded import EmbeddedKafka, free_port

HOST = "127.0.0.1"


class Relay:
    """Forwards `port` to `target_port` from its own thread and event loop."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def open(self) -> None:
        self._call(self._open())

    def cut(self) -> None:
        self._call(self._cut())

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._client, HOST, self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as when the broker's process goes away
        self.writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


class RelayedKafka(EmbeddedKafka):
    """Tansu on its own port, telling clients to come through the relay."""

    def __init__(self, partitions: int = 4) -> None:
        super().__init__(partitions=partitions)
        self.relay: Relay | None = None

    @property
    def bootstrap(self) -> str:
        assert self.relay is not None
        return f"{HOST}:{self.relay.port}"

    def start(self) -> None:
        self.relay = Relay(self.port)
        self.relay.open()
        super().start()

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("--advertised-listener-url") + 1] = f"tcp://{self.bootstrap}"
        command[command.index("--listener-url") + 1] = f"tcp://{HOST}:{self.port}"
        return command

    def stop(self) -> None:
        super().stop()
        if self.relay is not None:
            self.relay.close()
