from deepdraw.generation.cli import main

main()
