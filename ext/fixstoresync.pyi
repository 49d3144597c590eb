"""fdatasync for the FIX message stores on a C thread that never takes the GIL (see the module
docstring in fixstoresync.pyx): the loop thread requests a round, polls done() from a timer."""

class StoreSyncer:
    def __init__(self) -> None: ...              # starts the thread
    def request(self, fds: list[int]) -> None:   # RuntimeError while a round runs; <= 4096 fds
        ...
    def done(self) -> bool: ...                  # no round requested or running
    @property
    def error(self) -> int: ...                  # errno of the last finished round's first failure
    @property
    def synced(self) -> int: ...                 # successful fdatasync calls so far
    def close(self) -> None: ...                 # finish the running round, stop the thread
