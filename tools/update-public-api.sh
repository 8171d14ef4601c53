#!/usr/bin/env bash
# Brings every src/ library's PublicAPI.Unshipped.txt up to date with its code, from the public API analyzer's own
# diagnostics: builds the libraries with those diagnostics as warnings, appends each symbol RS0016 reports
# ("not part of the declared public API") to its project's PublicAPI.Unshipped.txt, and drops each one RS0017
# reports ("part of the declared API, but ... could not be found") from it, or marks it *REMOVED* when it had
# shipped. Run it after changing a library's public surface, then review the diff.
#
#   tools/update-public-api.sh            all libraries in src/
#   tools/update-public-api.sh Runtime    only src/Runtime (and what it references)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

projects=()
if [ "$#" -eq 0 ]; then
  for f in src/*/*.csproj; do
    [ -f "$(dirname "$f")/PublicAPI.Unshipped.txt" ] && projects+=("$root/$f")
  done
else
  for name in "$@"; do
    f=$(ls "src/$name"/*.csproj)
    projects+=("$root/$f")
  done
fi

# A plain MSBuild project that cleans and builds the libraries as one build, so each is compiled once and every
# diagnostic is reported (an up-to-date project would report none).
traversal=$(mktemp --suffix=.proj)
log=$(mktemp)
trap 'rm -f "$traversal" "$log"' EXIT
{
  echo '<Project DefaultTargets="Build">'
  echo '  <ItemGroup>'
  for p in "${projects[@]}"; do echo "    <Library Include=\"$p\" />"; done
  echo '  </ItemGroup>'
  echo '  <PropertyGroup><LibraryProperties>TreatWarningsAsErrors=false;WarningsAsErrors=</LibraryProperties></PropertyGroup>'
  echo '  <Target Name="Build">'
  echo '    <MSBuild Projects="@(Library)" Targets="Clean" Properties="$(LibraryProperties)" />'
  echo '    <MSBuild Projects="@(Library)" Targets="Build" Properties="$(LibraryProperties)" />'
  echo '  </Target>'
  echo '</Project>'
} > "$traversal"

for p in "${projects[@]}"; do
  dotnet restore "$p" -nologo -v:quiet > "$log" 2>&1 || { cat "$log"; exit 1; }
done

dotnet msbuild "$traversal" -nologo -v:minimal -nodeReuse:false > "$log" 2>&1 || { cat "$log"; echo "build failed (errors other than RS0016/RS0017 are above)" >&2; exit 1; }

python3 - "$log" <<'PY'
import collections, os, re, sys

added = collections.defaultdict(set)
removed = collections.defaultdict(set)
pattern = re.compile(r"warning (RS0016|RS0017): Symbol '(.*)' (?:is not part of the declared public API|is part of the declared API, but is either not public or could not be found).*\[(.+\.csproj)")
for line in open(sys.argv[1], encoding="utf-8"):
    m = pattern.search(line)
    if m:
        (added if m.group(1) == "RS0016" else removed)[os.path.dirname(m.group(3))].add(m.group(2))

def read(path):
    return [l.rstrip("\n") for l in open(path, encoding="utf-8")] if os.path.exists(path) else []

for folder in sorted(set(added) | set(removed)):
    shipped = set(read(os.path.join(folder, "PublicAPI.Shipped.txt")))
    path = os.path.join(folder, "PublicAPI.Unshipped.txt")
    lines = read(path)
    header = [l for l in lines if l.startswith("#")] or ["#nullable enable"]
    body = {l for l in lines if l and not l.startswith("#")}
    body -= removed[folder]
    body |= {"*REMOVED*" + s for s in removed[folder] if s in shipped}
    body |= added[folder]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(header + sorted(body, key=lambda s: (s.removeprefix("*REMOVED*"), s))) + "\n")
    print(f"{os.path.relpath(path)}: +{len(added[folder])} -{len(removed[folder])}")
PY
