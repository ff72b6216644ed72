"""What blocks tell the realtime gateway (and nobody else).

A block hides the two people from each other (0025), also in what a socket hears that the
database never stores: someone typing, someone coming online. The gateway keeps each
connection's block wall (:func:`service.wall`, read when the socket opens) and drops those
signals from anyone in it. Blocking or unblocking publishes :data:`WALL_CHECK` on both
people's user channels when it commits; the gateway reads the wall again and never passes
the event on, so the blocked person is not told.
"""

from __future__ import annotations

WALL_CHECK = "block.check"
