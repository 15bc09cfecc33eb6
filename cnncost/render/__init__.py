"""Renderers: a Report in, text out. No analysis here."""
