def app(): print("cli")
