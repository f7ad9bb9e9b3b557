//! Compiles `proto/*.proto` with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["sluice.proto", "chain.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Shared, not copied: an owner hashes a sealed frame on one thread while gRPC
        // sends it from another.
        .bytes(".sluice.v1.SealedFrame.ciphertext")
        .compile_fds(fds)?;
    Ok(())
}
