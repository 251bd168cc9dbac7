"""``channels.test.liveserver`` (from ``worker.test.liveserver``)."""

from worker.test.liveserver import ChannelLiveServerTestCase, InterfaceServerProcess, WorkerProcess

# 1.1.8 called the interface-server process DaphneProcess.
DaphneProcess = InterfaceServerProcess

__all__ = ["ChannelLiveServerTestCase", "DaphneProcess", "InterfaceServerProcess", "WorkerProcess"]
