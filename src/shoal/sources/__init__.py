"""Source adapters: the programs behind source kinds that bring events from outside Shoal."""
