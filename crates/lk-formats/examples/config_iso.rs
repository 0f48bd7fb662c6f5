fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut f = std::fs::File::create(&args[1]).unwrap();
    lk_formats::config_iso::write_config_iso(&mut f, args[2].as_bytes(), 1_795_915_419).unwrap();
}
