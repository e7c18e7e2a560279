package org.sttnkeras.demo;

/** The Fashion-MNIST class names, in label order. */
public final class FashionMnist {
  /** Label i's name. */
  public static final String[] LABELS = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
  };

  private FashionMnist() {}
}
