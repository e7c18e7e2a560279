// Versions are pinned here and in app/build.gradle.kts; README.md lists them.
plugins {
    id("com.android.application") version "8.7.3" apply false
}
