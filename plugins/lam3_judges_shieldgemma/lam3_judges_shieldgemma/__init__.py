"""lam3 judge plugin: Google's ShieldGemma 2 as an image-risk judge."""
