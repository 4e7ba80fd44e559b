"""Team collaboration: comments, review requests and approval policies, activity feed, watches, inbox."""
