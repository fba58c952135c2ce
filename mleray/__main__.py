from mleray.cli import main

main()
