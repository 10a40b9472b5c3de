module holon.local/pause

go 1.22
