GROUP = "kube"
TITLE = "todo"
CHECKS = []

def run(ctx, check):
    pass
