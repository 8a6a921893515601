def generate():
    return []
