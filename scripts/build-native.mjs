console.log("[sluice] native addon build: not yet wired")
