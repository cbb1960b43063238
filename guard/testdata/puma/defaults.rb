threads 5, 5
port 3000
workers 2
