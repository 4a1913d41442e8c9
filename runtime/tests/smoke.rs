#[test]
fn smoke() {
    let v = grt::RuntimeBuilder::new().max_procs(2).run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| grt::go(move || i * 2)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(v, 999 * 1000);
}
