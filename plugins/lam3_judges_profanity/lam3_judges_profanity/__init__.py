"""lam3 judge plugin: alt-profanity-check's offline profanity classifier."""
