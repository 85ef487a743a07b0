from feed.cli import main

main()
