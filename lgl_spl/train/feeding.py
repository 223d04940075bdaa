"""Feeders turn a global batch of indices into the arguments of a jitted step.

In memory, the whole split sits on every device and only the indices travel;
for sources read from disk (ImageNet) the same indices are gathered on the host.
"""

from __future__ import annotations

import numpy as np

from lgl_spl import parallel


class DeviceFeeder:
    """The split is replicated on the devices once; a batch is just its indices."""

    host_batches = False

    def __init__(self, x: np.ndarray, y: np.ndarray, mesh):
        self.mesh = mesh
        self.x = parallel.put_replicated(np.asarray(x), mesh)
        self.y = parallel.put_replicated(np.asarray(y), mesh)
        self.size = int(len(y))

    def batch(self, indices: np.ndarray):
        return self.x, self.y, parallel.put_batch(np.asarray(indices, np.int32), self.mesh)


class HostFeeder:
    """Images decoded on the host by index; labels kept in memory."""

    host_batches = True

    def __init__(self, source, labels: np.ndarray, mesh):
        self.mesh = mesh
        self.source = source
        self.labels = np.asarray(labels, np.int32)
        self.size = int(len(labels))

    def batch(self, indices: np.ndarray):
        indices = np.asarray(indices)
        put = lambda a: parallel.put_batch(a, self.mesh)
        local = np.arange(len(indices), dtype=np.int32)
        return put(self.source.gather(indices)), put(self.labels[indices]), put(local)


def make_feeder(x, y, source, mesh):
    return HostFeeder(source, y, mesh) if source is not None else DeviceFeeder(x, y, mesh)
