"""The review workstation (Qt): synchronized player, overlays, plots, map, timeline, receipt, undoable decisions."""
from review_ui.refcount_guard import protect_singletons

protect_singletons()
