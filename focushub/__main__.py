from focushub.cli import app

app()
