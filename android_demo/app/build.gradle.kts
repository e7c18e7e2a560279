// The demo app. Native code: ../native/CMakeLists.txt, which compiles the
// Python package's kernels (../../export) into libsttn_jni.so and builds
// sttn_benchmark_model. The TFLite runtime is the LiteRT AAR from Google's
// Maven; its runtime library is extracted at build time for CMake to link.
plugins {
    id("com.android.application")
}

// Pinned versions (README.md, "Versions").
val litertVersion = "1.0.1"            // com.google.ai.edge.litert:litert
val ndkVersionPinned = "27.2.12479018" // NDK r27c
val cmakeVersionPinned = "3.22.1"      // the SDK's CMake
// The library inside the AAR that exports the TFLite C API (LiteRT 1.x).
val tfliteRuntimeLib = "libtensorflowlite_jni.so"
val appAbis = listOf("arm64-v8a", "x86_64")

val litertAar: Configuration by configurations.creating

dependencies {
    // Packages the runtime's .so into the APK (our library links against it).
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    litertAar("com.google.ai.edge.litert:litert:$litertVersion@aar")
}

val litertDir = layout.buildDirectory.dir("litert")

// Unzips the AAR's jni/<abi>/*.so (and headers/, for reference only: our code
// uses its own declarations, native/common/tflite_interpreter_api.h).
val extractLiteRt by tasks.registering(Copy::class) {
    from({ zipTree(litertAar.singleFile) }) {
        include("jni/**/*.so", "headers/**")
    }
    into(litertDir)
    doLast {
        appAbis.forEach { abi ->
            val so = litertDir.get().file("jni/$abi/$tfliteRuntimeLib").asFile
            check(so.exists()) {
                "The LiteRT $litertVersion AAR has no jni/$abi/$tfliteRuntimeLib; " +
                    "list its jni/ folder and update tfliteRuntimeLib."
            }
        }
    }
}

android {
    namespace = "org.sttnkeras.demo"
    compileSdk = 35
    ndkVersion = ndkVersionPinned

    defaultConfig {
        applicationId = "org.sttnkeras.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
        ndk {
            abiFilters += appAbis
        }
        externalNativeBuild {
            cmake {
                arguments += listOf(
                    "-DANDROID_STL=c++_static",
                    "-DSTTN_LITERT_DIR=" + litertDir.get().asFile.absolutePath,
                    "-DSTTN_TFLITE_LIBRARY_NAME=$tfliteRuntimeLib",
                )
                cppFlags += listOf("-std=c++17", "-O2", "-Wall")
                // Build the benchmark tool too (it is not packaged in the APK;
                // find it under app/.cxx/<Debug|RelWithDebInfo>/<hash>/<abi>/).
                targets += listOf("sttn_jni", "sttn_benchmark_model")
            }
        }
    }

    externalNativeBuild {
        cmake {
            path = file("../native/CMakeLists.txt")
            version = cmakeVersionPinned
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }

    packaging {
        jniLibs {
            // Store .so files uncompressed and page-aligned (16 KB pages).
            useLegacyPackaging = false
        }
    }
}

// The models are produced by `make android-model` (repo root); fail early
// with that hint rather than at run time.
val checkModels by tasks.registering {
    val assets = file("src/main/assets")
    doLast {
        listOf("fmnist_sttn.tflite", "fmnist_float32.tflite").forEach { name ->
            check(assets.resolve(name).exists()) {
                "src/main/assets/$name is missing: run `make android-model` " +
                    "in the repository root first."
            }
        }
    }
}

tasks.named("preBuild") {
    dependsOn(extractLiteRt, checkModels)
}
