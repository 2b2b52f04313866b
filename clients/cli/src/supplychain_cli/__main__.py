from supplychain_cli.app import main

main()
