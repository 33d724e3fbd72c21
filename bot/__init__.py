"""Trợ lý số: the application around the FAQ core (channels, storage, web, scheduler, CLI)."""
