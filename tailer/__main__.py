from tailer.cli import main

main()
