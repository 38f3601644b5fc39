"""What the GitHub workflows (.github/workflows/) run besides `streamgate`: the pull-request comment that
is created once per stack and then edited, the stack matrix, and the smoke check after a deploy."""
