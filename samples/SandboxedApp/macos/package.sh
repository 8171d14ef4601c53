#!/usr/bin/env bash
# Packages the sample as two signed macOS apps that share one app group:
#   Sample.app  the app (App) with its helpers DeviceHub and FrameSource next to it in Contents/MacOS
#   Viewer.app  a second app of the same group, started on its own, which finds FrameSource through the
#               registry in the group container
# Usage: samples/SandboxedApp/macos/package.sh --help
#
# NOT RUN YET: no Mac was available while this was written (README.md, "What has been run, where").
#
# Written for the bash 3.2 that macOS ships as /bin/bash: no associative arrays, no mapfile, and no
# expansion of an empty array under set -u.
#
# The rules it follows, with their sources in sandbox-facts.md:
# - Helpers are started by the app with posix_spawn and inherit its sandbox. "A child target must use
#   exactly two App Sandbox entitlement keys: com.apple.security.app-sandbox and com.apple.security.inherit.
#   If you specify any other App Sandbox entitlement, the system aborts the child process." (Apple, "Enabling
#   App Sandbox Inheritance", sandbox-facts §5.) So Helper.entitlements holds those two keys and nothing else,
#   and this script checks the signed result. A bad setup crashes the helper with SIGILL in
#   _libsecinit_appsandbox (§5).
# - Helper tools live in Contents/MacOS or Contents/Helpers, never Contents/Resources (§5).
# - The configured app group must be exactly a string of the app's application-groups entitlement (§9.1,
#   "Design consequences" 1), so appsettings.json gets the string this script signed into the app.
# - On macOS 15+ a Team-ID-prefixed group avoids the container prompt only when the prefix is the signing
#   team (§1.2, §1.3), and macOS 26 rejects ad-hoc-signed code that asks for a group container (§1.2): the
#   script checks the team and warns about ad-hoc builds.
set -Eeuo pipefail

helpers=(DeviceHub FrameSource) # project folder, project name and executable name alike
readonly group_name=com.example.sandgrain # the app group is <Team ID>.<this>, as in App.entitlements

usage() {
  cat <<'EOF'
Usage: samples/SandboxedApp/macos/package.sh --identity IDENTITY [options]

Publishes and signs Sample.app (App, with the DeviceHub and FrameSource helpers in Contents/MacOS) and
Viewer.app, both members of the app group <TEAM_ID>.com.example.sandgrain. Needs macOS, the .NET SDK of
global.json and the Xcode command line tools (codesign; clang for the NativeAOT helpers).

Options (environment variable in brackets):
  --identity ID         codesign identity: "Developer ID Application: Name (TEAMID)", "Apple Development: …",
                        a certificate SHA-1, or "-" for ad-hoc. Ad-hoc builds get no hardened runtime and no
                        timestamp and are for looking at the layout only: macOS 15+ guards group containers
                        against code without a Team ID (README.md). [SANDGRAIN_SIGN_IDENTITY]
  --team-id ID          the 10-character Team ID that prefixes the app group. Default: the "(TEAMID)" at the
                        end of --identity; ABCDE12345 with --identity -. [SANDGRAIN_TEAM_ID]
  --rid RID             osx-arm64 or osx-x64. Default: this Mac's architecture. [SANDGRAIN_RID]
  --output DIR          where Sample.app and Viewer.app are written. Default: artifacts/macos/<rid> in the
                        repository. [SANDGRAIN_OUTPUT]
  --bundle-id-prefix P  bundle IDs P.sample and P.viewer; the helpers are signed as P.sample.<Helper>.
                        Default: com.example.sandgrain
  --version X.Y.Z       CFBundleShortVersionString. Default: 0.1.0
  --build N             CFBundleVersion. Default: the version
  --no-aot-helpers      publish the helpers self-contained with the JIT instead of NativeAOT. For ad-hoc
                        development builds: under the hardened runtime a JIT helper would need
                        com.apple.security.cs.allow-jit, which an inheriting helper must not carry.
  -h, --help            show this text

Exit status: 0 done; 1 a step failed; 2 not running on macOS; 64 bad arguments.

Example:
  samples/SandboxedApp/macos/package.sh --identity "Developer ID Application: Example Ltd (ABCDE12345)"
EOF
}

die() {
  printf 'package.sh: error: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'package.sh: %s\nRun package.sh --help for the options.\n' "$*" >&2
  exit 64
}
warn() { printf 'package.sh: warning: %s\n' "$*" >&2; }
step() { printf '\n==> %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------------------
# Arguments

identity=${SANDGRAIN_SIGN_IDENTITY:-}
team=${SANDGRAIN_TEAM_ID:-}
rid=${SANDGRAIN_RID:-}
output=${SANDGRAIN_OUTPUT:-}
bundle_prefix=com.example.sandgrain
version=0.1.0
build=
aot_helpers=1

while [ $# -gt 0 ]; do
  case $1 in
    --*=*) # --name=value: split it and look again
      name=${1%%=*}
      value=${1#*=}
      shift
      set -- "$name" "$value" "$@"
      continue
      ;;
  esac
  case $1 in
    -h | --help)
      usage
      exit 0
      ;;
    --no-aot-helpers)
      aot_helpers=0
      shift
      continue
      ;;
    --identity | --team-id | --rid | --output | --bundle-id-prefix | --version | --build)
      if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  case $1 in
    --identity) identity=$2 ;;
    --team-id) team=$2 ;;
    --rid) rid=$2 ;;
    --output) output=$2 ;;
    --bundle-id-prefix) bundle_prefix=$2 ;;
    --version) version=$2 ;;
    --build) build=$2 ;;
  esac
  shift 2
done

# ---------------------------------------------------------------------------------------------------------
# macOS only

os=$(uname -s)
if [ "$os" != Darwin ]; then
  printf "package.sh needs macOS: codesign and the osx RIDs' native toolchain; it cannot run on %s\n" "$os" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------------------------
# Checks, before anything is built

[ -n "$identity" ] || usage_error "--identity is required (a codesign identity, or - for ad-hoc)"

re_team='^[A-Z0-9]{10}$'
re_version='^[0-9]+(\.[0-9]+){0,2}$'
re_prefix='^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$'

identity_team=$(printf '%s\n' "$identity" | sed -n 's/.*(\([A-Z0-9]\{10\}\))[[:space:]]*$/\1/p')
if [ -z "$team" ]; then
  if [ "$identity" = - ]; then
    team=ABCDE12345
  elif [ -n "$identity_team" ]; then
    team=$identity_team
  else
    usage_error "--team-id is required when --identity does not end in (TEAMID)"
  fi
fi
[[ $team =~ $re_team ]] || usage_error "--team-id '$team' is not a Team ID (10 capital letters and digits)"
if [ -n "$identity_team" ] && [ "$identity_team" != "$team" ]; then
  usage_error "--identity is of team $identity_team but --team-id is $team: the app group's Team ID prefix must be the signing team's, or macOS 15+ treats the group container as another developer's (sandbox-facts §1.2, §1.3)"
fi

if [ -z "$rid" ]; then
  case $(uname -m) in
    arm64) rid=osx-arm64 ;;
    x86_64) rid=osx-x64 ;;
    *) usage_error "cannot tell the RID of a $(uname -m) Mac; pass --rid osx-arm64 or --rid osx-x64" ;;
  esac
fi
case $rid in
  osx-arm64 | osx-x64) ;;
  *) usage_error "--rid must be osx-arm64 or osx-x64, not '$rid'" ;;
esac

[[ $version =~ $re_version ]] || usage_error "--version '$version' is not of the form 1, 1.2 or 1.2.3"
build=${build:-$version}
[[ $build =~ $re_version ]] || usage_error "--build '$build' is not of the form 1, 1.2 or 1.2.3"
[[ $bundle_prefix =~ $re_prefix ]] || usage_error "--bundle-id-prefix '$bundle_prefix' is not a reverse-DNS name"

for tool in dotnet codesign plutil file find cmp sed xattr xcrun security; do
  if ! command -v "$tool" >/dev/null; then
    case $tool in
      dotnet) die "dotnet not found on PATH: install the .NET SDK named in global.json" ;;
      *) die "$tool not found on PATH: xcode-select --install installs the command line tools" ;;
    esac
  fi
done
plistbuddy=/usr/libexec/PlistBuddy
[ -x "$plistbuddy" ] || die "$plistbuddy not found"
if [ "$aot_helpers" = 1 ] && ! xcrun --find clang >/dev/null 2>&1; then
  die "NativeAOT helpers need clang from the Xcode command line tools (xcode-select --install), or pass --no-aot-helpers"
fi
if [ "$identity" != - ]; then
  identities=$(security find-identity -v -p codesigning)
  case $identities in
    *"$identity"*) ;;
    *) die "no valid code-signing identity matching '$identity' in the keychain; 'security find-identity -v -p codesigning' lists them" ;;
  esac
fi

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$script_dir/../../.." && pwd -P)
sample=$repo/samples/SandboxedApp
app_project=$sample/App/App.csproj
viewer_project=$sample/Viewer/Viewer.csproj
for project in "$app_project" "$viewer_project"; do
  [ -f "$project" ] || die "$project not found"
done
for h in "${helpers[@]}"; do
  [ -f "$sample/$h/$h.csproj" ] || die "$sample/$h/$h.csproj not found"
done

output=${output:-$repo/artifacts/macos/$rid}
mkdir -p "$output"
out=$(cd "$output" && pwd -P)
work=$out/.work
rm -rf "$work" "$out/Sample.app" "$out/Viewer.app" "$out/symbols"
mkdir -p "$work"

trap 'printf "package.sh: failed near line %s\n" "$LINENO" >&2' ERR

adhoc=0
if [ "$identity" = - ]; then
  adhoc=1
fi
if [ "$aot_helpers" = 0 ] && [ "$adhoc" = 0 ]; then
  warn "--no-aot-helpers with the hardened runtime: the JIT helpers lack com.apple.security.cs.allow-jit (an inheriting helper may carry only app-sandbox + inherit) and will probably fail to start; use NativeAOT helpers"
fi

# ---------------------------------------------------------------------------------------------------------
# Entitlements: App.entitlements with the Team ID filled in; the app group comes from the signed file.

step "Entitlements"
app_entitlements=$work/App.entitlements
helper_entitlements=$script_dir/Helper.entitlements
sed "s/__TEAM_ID__/$team/g" "$script_dir/App.entitlements" >"$app_entitlements"
plutil -lint -s "$app_entitlements" || die "$app_entitlements is not a valid property list"
plutil -lint -s "$helper_entitlements" || die "$helper_entitlements is not a valid property list"
group=$("$plistbuddy" -c 'Print :com.apple.security.application-groups:0' "$app_entitlements")
[ "$group" = "$team.$group_name" ] || die "App.entitlements names the app group '$group'; expected $team.$group_name"
echo "app group: $group"

# ---------------------------------------------------------------------------------------------------------
# Publish

publish() { # project destination extra-arguments...
  local project=$1 destination=$2
  shift 2
  echo "dotnet publish ${project#"$repo"/} -r $rid $*"
  dotnet publish "$project" --nologo -c Release -r "$rid" -o "$destination" "$@"
}

step "Publish ($rid)"
publish "$app_project" "$work/publish/App" --self-contained true
publish "$viewer_project" "$work/publish/Viewer" --self-contained true
for h in "${helpers[@]}"; do
  if [ "$aot_helpers" = 1 ]; then
    publish "$sample/$h/$h.csproj" "$work/publish/$h" -p:PublishAot=true
  else
    publish "$sample/$h/$h.csproj" "$work/publish/$h" --self-contained true
  fi
done

# ---------------------------------------------------------------------------------------------------------
# Assemble. The .NET files go next to the executable in Contents/MacOS: the apphost looks for App.dll,
# App.deps.json and App.runtimeconfig.json beside itself, the host's content root (appsettings.json) is
# AppContext.BaseDirectory, and HelperLauncher looks for helpers in the executable's folder, then in
# Contents/MacOS and Contents/Helpers. Contents/Resources is not used: it is for resources, and Apple's
# layout puts code (helpers included, sandbox-facts §5) in Contents/MacOS or Contents/Helpers.

fill_template() { # template bundle-id
  sed -e "s/__BUNDLE_ID__/$2/g" -e "s/__VERSION__/$version/g" -e "s/__BUILD__/$build/g" \
    -e "s/__TEAM_ID__/$team/g" "$1"
}

assemble() { # app executable template bundle-id publish-folder
  local app=$1 executable=$2 template=$3 bundle_id=$4 from=$5
  mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
  fill_template "$template" "$bundle_id" >"$app/Contents/Info.plist"
  if grep -q '__[A-Z_]*__' "$app/Contents/Info.plist"; then
    die "$template has a placeholder package.sh does not fill: $(grep -o '__[A-Z_]*__' "$app/Contents/Info.plist" | head -n 1)"
  fi
  plutil -lint -s "$app/Contents/Info.plist" || die "$app/Contents/Info.plist is not a valid property list"
  printf 'APPL????' >"$app/Contents/PkgInfo"
  cp -pR "$from/." "$app/Contents/MacOS/"
  [ -f "$app/Contents/MacOS/$executable" ] || die "$executable is missing from $from"
  echo "$app"
}

clean_attributes() { # app
  # Finder info and resource forks make codesign fail ("detritus not allowed"); clear every extended
  # attribute before signing (the signatures of non-Mach-O files are written as attributes afterwards).
  xattr -cr "$1"
}

is_macho_executable() { case $(file -b "$1") in *Mach-O*executable*) return 0 ;; esac; return 1; }

install_aot_helper() { # helper Contents/MacOS
  local h=$1 macos=$2 built=$work/publish/$1/$1
  [ -f "$built" ] || die "NativeAOT publish of $h left no $built"
  is_macho_executable "$built" || die "$built is not a Mach-O executable: $(file -b "$built")"
  # This replaces the JIT apphost that App's project reference to the helper copied there. <helper>.dll and
  # its .json files stay: App.deps.json lists the .dll, and the host refuses to start if one is missing.
  rm -f "${macos:?}/$h"
  cp -p "$built" "$macos/$h"
  chmod 755 "$macos/$h"
  if [ -d "$built.dSYM" ]; then
    mkdir -p "$out/symbols"
    cp -pR "$built.dSYM" "$out/symbols/"
  fi
}

merge_jit_helper() { # helper Contents/MacOS
  # A self-contained JIT helper shares the app's folder: its own files (<helper>, <helper>.*) are copied over,
  # every other file must already be there byte for byte (same runtime, same package versions) or be new.
  local h=$1 macos=$2 from=$work/publish/$1 file relative conflicts=""
  while IFS= read -r -d '' file; do
    relative=${file#"$from"/}
    case $relative in
      "$h" | "$h".*) cp -p "$file" "$macos/$relative" ;;
      *)
        if [ ! -e "$macos/$relative" ]; then
          mkdir -p "$(dirname "$macos/$relative")"
          cp -p "$file" "$macos/$relative"
        elif ! cmp -s "$file" "$macos/$relative"; then
          conflicts="$conflicts $relative"
        fi
        ;;
    esac
  done < <(find "$from" -type f -print0)
  [ -z "$conflicts" ] || die "helper $h needs other versions of files the app already has:$conflicts (use NativeAOT helpers)"
}

set_group_id() { # Contents/MacOS
  # Points Sandgrain:GroupId in each *appsettings*.json (the Viewer reads viewer.appsettings.json) at the
  # group this script signs into the app.
  local macos=$1 settings current found=0
  for settings in "$macos"/*appsettings*.json; do
    [ -f "$settings" ] || continue
    current=$(sed -n 's/.*"GroupId"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$settings")
    [ -n "$current" ] || continue
    found=1
    [ "$(printf '%s\n' "$current" | wc -l | tr -d ' ')" = 1 ] || die "$settings has more than one GroupId; set them by hand"
    if [ "$current" != "$group" ]; then
      sed "s/\(\"GroupId\"[[:space:]]*:[[:space:]]*\"\)[^\"]*\"/\1$group\"/" "$settings" >"$settings.new"
      mv "$settings.new" "$settings"
      echo "${settings#"$out"/}: GroupId $current -> $group"
    else
      echo "${settings#"$out"/}: GroupId $group"
    fi
  done
  [ "$found" = 1 ] || warn "no *appsettings*.json with a Sandgrain GroupId in $macos: the app must be told '$group' some other way"
}

check_catalog() { # Contents/MacOS
  # Warns about helper executables named in the configuration that are not where the launcher looks.
  local macos=$1 settings executable
  for settings in "$macos"/*appsettings*.json; do
    [ -f "$settings" ] || continue
    sed -n 's/.*"Executable"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$settings" | while IFS= read -r executable; do
      case $executable in /*) continue ;; esac
      [ -f "$macos/$executable" ] || [ -f "$macos/../Helpers/$executable" ] ||
        warn "${settings#"$out"/} names helper '$executable', which is not in Contents/MacOS or Contents/Helpers"
    done
  done
}

detach_viewer() { # Contents/MacOS of Sample.app
  # With Demo:StartViewer the App starts ./Viewer itself (handy under dotnet run). Inside the bundle that
  # child would run in the App's sandbox (inherit, sandbox-facts §5): a helper, not a second app, and a JIT
  # one, needing com.apple.security.cs.allow-jit, which an inheriting child must not carry. The Viewer ships
  # as Viewer.app instead, so its executable leaves Sample.app (Viewer.dll stays: App.deps.json lists it)
  # and the demo switch is turned off.
  local macos=$1 settings=$1/appsettings.json
  rm -f "$macos/Viewer"
  if [ -f "$settings" ] && grep -q '"StartViewer"' "$settings"; then
    sed 's/\("StartViewer"[[:space:]]*:[[:space:]]*\)true/\1false/' "$settings" >"$settings.new"
    mv "$settings.new" "$settings"
    echo "Sample.app: Demo:StartViewer is false; Viewer.app is started on its own"
  fi
}

step "Assemble"
sample_id=$bundle_prefix.sample
viewer_id=$bundle_prefix.viewer
sample_app=$out/Sample.app
viewer_app=$out/Viewer.app
assemble "$sample_app" App "$script_dir/Sample-Info.plist" "$sample_id" "$work/publish/App"
assemble "$viewer_app" Viewer "$script_dir/Viewer-Info.plist" "$viewer_id" "$work/publish/Viewer"
for h in "${helpers[@]}"; do
  if [ "$aot_helpers" = 1 ]; then
    install_aot_helper "$h" "$sample_app/Contents/MacOS"
  else
    merge_jit_helper "$h" "$sample_app/Contents/MacOS"
  fi
done
detach_viewer "$sample_app/Contents/MacOS"
for app in "$sample_app" "$viewer_app"; do
  set_group_id "$app/Contents/MacOS"
  check_catalog "$app/Contents/MacOS"
  clean_attributes "$app"
done

# ---------------------------------------------------------------------------------------------------------
# Sign, inside out: every file in Contents/MacOS but the main executable and the helpers, then the helpers,
# then the bundle (which signs the main executable with the app's entitlements and seals Info.plist).
#
# Contents/MacOS is a code location, so codesign wants every file there signed, .dll and .json included
# (their signatures go into extended attributes); otherwise the bundle fails with "code object is not signed
# at all / In subcomponent". Dylibs get no entitlements (entitlements belong to executables). Other Mach-O
# executables there (the runtime's createdump) are children of the app like the helpers and get the
# helper's entitlements.
#
# Ad-hoc: no hardened runtime. With it, library validation refuses ad-hoc dylibs (libhostfxr, libcoreclr)
# because neither they nor the app have a Team ID, and ad-hoc code is never notarized anyway.

sign() { # path [entitlements] [identifier]
  local path=$1 entitlements=${2:-} identifier=${3:-} result
  local arguments=(--force --sign "$identity")
  [ "$adhoc" = 1 ] || arguments+=(--options runtime --timestamp)
  [ -z "$entitlements" ] || arguments+=(--entitlements "$entitlements")
  [ -z "$identifier" ] || arguments+=(--identifier "$identifier")
  if ! result=$(codesign "${arguments[@]}" "$path" 2>&1); then
    printf '%s\n' "$result" >&2
    die "codesign failed for $path"
  fi
}

sign_app() { # app executable bundle-id "helper helper ..." (names without spaces; may be empty)
  local app=$1 executable=$2 bundle_id=$3 helper_names=" $4 "
  local macos=$app/Contents/MacOS file name h data=0 libraries=0 tools=0
  while IFS= read -r -d '' file; do
    name=${file#"$macos"/}
    [ "$name" != "$executable" ] || continue
    case $helper_names in *" $name "*) continue ;; esac
    case $(file -b "$file") in
      *Mach-O*executable*)
        sign "$file" "$helper_entitlements" "$bundle_id.${name##*/}"
        tools=$((tools + 1))
        ;;
      *Mach-O*)
        sign "$file"
        libraries=$((libraries + 1))
        ;;
      *)
        sign "$file"
        data=$((data + 1))
        ;;
    esac
  done < <(find "$macos" -type f -print0)
  echo "${app##*/}: signed $libraries Mach-O libraries, $tools other executables, $data other files"
  for h in $helper_names; do
    sign "$macos/$h" "$helper_entitlements" "$bundle_id.$h"
    echo "${app##*/}: signed helper $h as $bundle_id.$h with Helper.entitlements"
  done
  sign "$app" "$app_entitlements"
  echo "${app##*/}: signed the bundle as $bundle_id with App.entitlements"
}

step "Sign with ${identity}"
sign_app "$sample_app" App "$sample_id" "${helpers[*]}"
sign_app "$viewer_app" Viewer "$viewer_id" ""

# ---------------------------------------------------------------------------------------------------------
# Verify

entitlement_keys() { # entitlements-plist -> the top-level keys, sorted, on one line
  plutil -p "$1" | sed -n 's/^  "\([^"]*\)" => .*/\1/p' | LC_ALL=C sort | tr '\n' ' '
}

check_signed_entitlements() { # path expected-keys...
  local path=$1 signed=$work/signed.plist got want
  shift
  codesign -d --entitlements - --xml "$path" >"$signed" 2>/dev/null || die "cannot read the entitlements of $path"
  got=$(entitlement_keys "$signed")
  want=$(printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ')
  [ "$got" = "$want" ] || die "$path is signed with [ $got], expected exactly [ $want]"
}

check_team() { # path
  local signed_team
  signed_team=$(codesign -d --verbose=2 "$1" 2>&1 | sed -n 's/^TeamIdentifier=//p')
  [ "$signed_team" = "$team" ] ||
    die "$1 is signed by team '$signed_team' but its app group is $group: the prefix must be the signing team (sandbox-facts §1.2, §1.3)"
}

show() { # path
  printf '\n--- %s\n' "${1#"$out"/}"
  codesign -d --entitlements - "$1" 2>&1
}

step "Verify"
for app in "$sample_app" "$viewer_app"; do
  codesign --verify --deep --strict --verbose=2 "$app" || die "$app does not verify"
  check_signed_entitlements "$app" com.apple.security.app-sandbox com.apple.security.application-groups \
    com.apple.security.cs.allow-jit
  [ "$("$plistbuddy" -c 'Print :com.apple.security.application-groups:0' "$work/signed.plist")" = "$group" ] ||
    die "$app is not signed with the app group $group"
  [ "$adhoc" = 1 ] || check_team "$app"
  show "$app"
done
for h in "${helpers[@]}"; do
  helper=$sample_app/Contents/MacOS/$h
  codesign --verify --strict --verbose=2 "$helper" || die "$helper does not verify"
  check_signed_entitlements "$helper" com.apple.security.app-sandbox com.apple.security.inherit
  [ "$adhoc" = 1 ] || check_team "$helper"
  show "$helper"
done

# ---------------------------------------------------------------------------------------------------------
# Done

step "Done"
cat <<EOF
$sample_app
$viewer_app
App group $group; its container is ~/Library/Group Containers/$group/ and Sandgrain keeps its files in
its .sandgrain/ folder.
EOF
if [ "$adhoc" = 1 ]; then
  warn "ad-hoc signed: no Team ID, so macOS 15+ may prompt before the apps open the group container and macOS 26 rejects them (README.md, sandbox-facts §1.2). Sign with a team identity to run the sample."
  if [ "$team" = ABCDE12345 ]; then
    warn "ABCDE12345 is the sample's stand-in Team ID; pass --team-id to use yours"
  fi
else
  cat <<EOF

Developer ID distribution: notarize and staple each app (README.md):
  ditto -c -k --keepParent "$sample_app" "$out/Sample.zip"
  xcrun notarytool submit "$out/Sample.zip" --keychain-profile <profile> --wait
  xcrun stapler staple "$sample_app"
EOF
fi
if [ "$aot_helpers" = 0 ] && [ "$adhoc" = 0 ]; then
  warn "--no-aot-helpers with the hardened runtime: the JIT helpers lack com.apple.security.cs.allow-jit (an inheriting helper may carry only app-sandbox + inherit) and will probably fail to start; use NativeAOT helpers"
fi
