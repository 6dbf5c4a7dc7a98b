from rapbot.cli import main

main()
