"""What the domains that show people's writing share, in one place.

Posts, comments, questions and answers, and the feed and search that list them,
all embed the author and the caller's own vote. ``schemas`` holds the shapes
they embed (``UserSummary``, which follows, search and chat embed too, and
``VoteType``); ``sql`` holds the one SQL fragment that reads them. Domains
import this package; it imports no domain (only ``core``), so it can never
close an import cycle between them.
"""
