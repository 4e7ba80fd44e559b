"""placeholder"""
from mainsail.ui.web import page_router

router = page_router()
