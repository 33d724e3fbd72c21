"""Local stand-ins for the platforms' APIs (Telegram Bot API, Zalo OA), served by aiohttp on 127.0.0.1."""
