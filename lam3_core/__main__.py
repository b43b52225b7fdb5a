from lam3_core.cli import main

main()
