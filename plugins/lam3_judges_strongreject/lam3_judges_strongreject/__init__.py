"""lam3 judge plugin: the StrongREJECT fine-tuned judge as an attack-success judge."""
