#include "system/vl.h"

int main(int argc, char** argv) { return nahanni::vl_main(argc, argv); }
