"""Conversation logic, channel-agnostic: what to say to whom."""
