"""Every dataset in one place: readers of DexYCB, OakInk2 and GraspXL (poses and RGB clips), the
clip folder, and ``pam dataset build`` (see docs/data.md).

``make_reader(name, root)`` gives a ``Reader``: ``clips(split)`` lists ``ClipRef`` s,
``sequence(ref)`` loads a ``HOISequence`` and ``frames(ref)`` the RGB frames.
"""

from pam.data.readers import READERS, DatasetError, Reader, make_reader
from pam.data.refs import ClipRef, ClipRefError

__all__ = ["READERS", "ClipRef", "ClipRefError", "DatasetError", "Reader", "make_reader"]
