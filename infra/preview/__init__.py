"""CI previews of infra changes: diffs of offline plans (against a git ref, a saved plan or a `pulumi stack
export`), replacement marks, policy verdicts on both sides, and their table, JSON and markdown renderings."""
