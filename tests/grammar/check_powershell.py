"""Parses PowerShell files with tree-sitter-powershell, a grammar sfb-dr did not write, and fails
on any syntax error or on syntax Windows PowerShell 5.1 lacks (PowerShell 7's pipeline chains,
ternaries and null operators). Usage: check_powershell.py FILE...; prints one line per problem."""
import sys

try:
    import tree_sitter
    import tree_sitter_powershell
except ImportError as e:
    print(f"tree-sitter-powershell is not installed ({e}): pip install tree-sitter tree-sitter-powershell")
    sys.exit(3)

# Tokens of PowerShell 7 syntax that Windows PowerShell 5.1 cannot parse.
PS7_ONLY = {"&&", "||", "??", "??=", "?.", "?[", "?"}

parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
problems = 0
for path in sys.argv[1:]:
    source = open(path, "rb").read()
    tree = parser.parse(source)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        line = node.start_point[0] + 1
        if node.is_error or node.is_missing:
            text = source[node.start_byte:node.end_byte][:60].decode("utf-8", "replace")
            what = "missing " + node.type if node.is_missing else "syntax error"
            print(f"{path}:{line}: {what} at {text!r}")
            problems += 1
        elif not node.is_named and node.type in PS7_ONLY:
            print(f"{path}:{line}: {node.type!r} is PowerShell 7 syntax; Windows PowerShell 5.1 lacks it")
            problems += 1
        stack.extend(node.children)
print(f"{len(sys.argv) - 1} files parsed, {problems} problems")
sys.exit(1 if problems else 0)
