"""The built-in web chat: a third chat platform beside Slack and Discord (the sandbox's team channel)."""
