"""Discord adapter: each conversation is a forum post (discord.py).

Named `discord_bot` so it never shadows the `discord` library.
"""
