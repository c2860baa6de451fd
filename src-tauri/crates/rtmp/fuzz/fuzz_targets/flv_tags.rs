#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onair_flv::fuzzing::flv_tags(data));
