from autan.cli import main

main()
